from evalkit.cli.run import main

main()
