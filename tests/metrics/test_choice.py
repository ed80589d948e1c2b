"""Multiple-choice scorers: ScienceQA option-letter extraction (LLaVA's rules and the extended mode)
and MMBench choice extraction, rotation and circular evaluation."""

import pytest

from evalkit.metrics import mmbench as mb
from evalkit.metrics import scienceqa as sqa

CHOICES3 = ["the moon", "the sun", "a comet"]


# ---- ScienceQA: LLaVA's extraction -----------------------------------------------------------------

@pytest.mark.parametrize("pred,letter", [
    ("B", "B"),                                   # bare letter
    ("E", "E"),                                   # any of A-E is read (range is checked later)
    ("B. the sun", "B"),                          # letter + ". "
    ("The answer is B.", "B"),                    # exactly one "The answer is X." match
    ("I think so. The answer is C. Because...", "C"),
    ("The answer is B!", "B"),                    # the reference regex leaves '.' unescaped
    ("The answer is Bx", "B"),
    ("The answer is B", None),                    # no character after the letter: no match
    ("The answer is B. The answer is C.", None),  # two matches: failure
    ("(B)", None),                                # not accepted by LLaVA's script
    ("B.", None),                                 # too short for the "X. " rule
    ("B.the sun", None),
    (" B", None),                                 # no stripping
    ("b", None),                                  # no case folding
    ("the answer is B.", None),
    ("The sun", None),
    ("", None),
    (None, None),
])
def test_sqa_llava_extraction(pred, letter):
    assert sqa.extract_llava(pred) == letter


def test_sqa_pred_index_range_and_scoring():
    assert sqa.pred_index("C", 3) == 2
    assert sqa.pred_index("D", 3) == -1       # names no option of a 3-choice question
    assert sqa.pred_index(None, 3) == -1
    items = [
        {"pred": "The answer is B.", "choices": CHOICES3, "answer": 1, "has_image": True, "subject": "nat"},
        {"pred": "B", "choices": CHOICES3, "answer": 1, "has_image": True, "subject": "nat"},
        {"pred": "(B)", "choices": CHOICES3, "answer": 1, "has_image": True, "subject": "soc"},
        {"pred": "The answer is B. The answer is C.", "choices": CHOICES3, "answer": 1, "has_image": False},
        {"pred": "D", "choices": CHOICES3, "answer": 1, "has_image": False},
        {"pred": None, "choices": CHOICES3, "answer": 0, "has_image": True},
    ]
    m = sqa.score_scienceqa(items)
    assert m["correct"] == 2 and m["total"] == 6 and m["accuracy"] == pytest.approx(2 / 6)
    assert m["img_total"] == 4 and m["img_accuracy"] == pytest.approx(2 / 4)
    assert m["n_failed_extraction"] == 3 and m["n_out_of_range"] == 1 and m["n_missing_pred"] == 1
    assert m["accuracy_by_subject"] == {"nat": 1.0, "soc": 0.0}
    ext = sqa.score_scienceqa(items, mode="extended")
    assert ext["correct"] == 3 and ext["extraction"] == "extended"
    with pytest.raises(ValueError):
        sqa.score_scienceqa(items, mode="lenient")


@pytest.mark.parametrize("pred,letter", [
    ("The answer is B.", "B"),                    # LLaVA's rules first
    ("(B)", "B"),
    ("(B) the sun", "B"),
    ("B)", "B"),
    ("B.", "B"),
    ("  C  ", "C"),
    ("The answer is B", "B"),
    ("Answer: (C)", "C"),
    ("the answer is a comet", "C"),               # lower-case 'a' is not a letter; option text is
    ("The sun.", "B"),                            # option text equals the reply
    ("I am quite sure it is the moon", "A"),      # exactly one option text contained
    ("the moon or the sun", None),                # two option texts: ambiguous
    ("Blue", None),
])
def test_sqa_extended_extraction(pred, letter):
    assert sqa.extract_extended(pred, CHOICES3) == letter


# ---- MMBench --------------------------------------------------------------------------------------

OPTS = {"A": "cat", "B": "dog", "C": "a red bird", "D": "fish"}


@pytest.mark.parametrize("pred,letter,how", [
    ("B", "B", "letter"),
    ("(B)", "B", "letter"),
    ("B. dog", "B", "letter"),
    ("Answer: C", "C", "letter"),
    ("[D]", "D", "letter"),
    ("The answer is B.", "B", "letter"),
    ("A or B", None, None),                       # two letters: no letter match, no option text either
    ("It is a dog.", "B", "text"),                # option text, case-insensitive
    ("I see A RED BIRD here", "A", "letter"),     # official order: a standalone capital 'A' wins over text
    ("i see a red bird here", "C", "text"),
    ("E", None, None),                            # not an option of this question
    ("a dog and a cat", None, None),              # two option texts
    ("", None, None),
])
def test_mmbench_extraction(pred, letter, how):
    assert mb.extract_choice(pred, OPTS) == (letter, how)


def test_mmbench_rotation_and_grouping():
    opts = {"A": "w", "B": "x", "C": "y", "D": "z"}
    rot, ans = mb.rotate_options(opts, "C", 1)
    assert rot == {"A": "x", "B": "y", "C": "z", "D": "w"} and ans == "B"
    rot, ans = mb.rotate_options(opts, "A", 3)
    assert rot == {"A": "z", "B": "w", "C": "x", "D": "y"} and ans == "B"
    assert mb.rotate_options({"A": "p", "B": "q"}, "B", 1) == ({"A": "q", "B": "p"}, "A")
    assert mb.group_of(3000017) == 17 and mb.rotation_of(3000017) == 3 and mb.group_of("17") == 17
    assert mb.options_from_row({"A": "x", "B": "y", "C": float("nan"), "D": "z"}) == {"A": "x", "B": "y"}
    assert mb.options_from_row({"A": "x", "B": "None", "C": "z"}) == {"A": "x"}


def test_circular_three_of_four_is_wrong():
    def rows(idx, results, cat="c1"):
        return [{"index": idx + k * mb.CIRCULAR_BASE, "correct": ok, "category": cat, "l2_category": "L",
                 "n_options": len(results)} for k, ok in enumerate(results)]

    data = (rows(1, [True, True, True, False])           # right in 3 of 4 rotations: wrong
            + rows(2, [True, True, True, True])          # right in all: right
            + rows(3, [True, True], cat="c2")            # two options, both right
            + rows(4, [False, True, True], cat="c2"))    # original wrong
    m = mb.circular_scores(data)
    assert m["circular_accuracy"] == pytest.approx(2 / 4)
    assert m["vanilla_accuracy"] == pytest.approx(3 / 4)   # originals only
    assert m["circular_by_category"] == {"c1": 0.5, "c2": 0.5}
    assert m["n_groups"] == 4 and m["n_rows"] == 13 and m["n_incomplete_groups"] == 0
    # a missing rotation is reported, the group is judged on what is there
    part = mb.circular_scores(rows(5, [True, True, True, True])[:3])
    assert part["n_incomplete_groups"] == 1 and part["circular_accuracy"] == 1.0
    # no ground truth (test split): nothing to score
    blind = mb.circular_scores([{"index": 9, "correct": None, "n_options": 2}])
    assert blind["circular_accuracy"] is None and blind["n_groups_without_answer"] == 1


def test_mmbench_missing_cells():
    assert mb.is_missing(float("nan")) and mb.is_missing("NaN") and mb.is_missing("none") and mb.is_missing(None)
    assert not mb.is_missing("0") and not mb.is_missing("no")
