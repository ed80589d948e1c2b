"""Reference prompts, imported from the user's copy of the reference code and verified by hash.

evalkit ships no other project's prompt text.  ``evalkit-prompts import /path/to/Video-LLaVA``
parses the reference files (never executing them: :mod:`~evalkit.prompts.extract`), reduces each
prompt to a normalised template (:mod:`~evalkit.prompts.templates`), checks its sha256 against
the public versions evalkit knows (:mod:`~evalkit.prompts.known`) and stores it per user
(:mod:`~evalkit.prompts.store`).  The judge (:mod:`~evalkit.prompts.judge`) and the answer
templates (:mod:`~evalkit.prompts.answer`) read the store when a job starts.

Importing this package reads nothing (no environment, no files).
"""
