"""VQA accuracy / normalisation edge cases, checked against the reference code's behaviour."""

import pytest

from evalkit.metrics.vqa import (
    CONTRACTIONS,
    evalai_normalize,
    gqa_answer_type,
    gqa_correct,
    leave_one_out_accuracy,
    m4c_accuracy,
    process_digit_article,
    process_punctuation,
    submission_answer,
    vizwiz_official_accuracy,
    vqa_accuracy,
    vqa_normalize,
    vqav2_official_accuracy,
)
from tests._image_data import ten_answers


def both(pred, answers, benchmark="vqav2"):
    return (vqa_accuracy(pred, answers, benchmark, "official"), vqa_accuracy(pred, answers, benchmark, "llava"))


# ---- the leave-one-out formula ------------------------------------------------------------------

@pytest.mark.parametrize("k, expected", [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)])
def test_k_of_10_annotators(k, expected):
    # 10-choose-9 averaging: 3 matching annotators give 0.9, not min(3/3, 1) = 1; it takes 4 for 1.0
    answers = ["cat"] * k + ["dog"] * (10 - k)
    assert leave_one_out_accuracy("cat", answers) == pytest.approx(expected)
    assert vqa_accuracy("cat", answers, "vqav2", "official") == pytest.approx(expected)


def test_two_of_ten_is_average_of_the_ten_subsets():
    answers = ["no", "yes", "no", "no", "no", "yes", "no", "no", "no", "no"]
    subsets = [min(1, sum(a == "yes" for j, a in enumerate(answers) if j != i) / 3) for i in range(10)]
    assert subsets.count(1 / 3) == 2 and subsets.count(2 / 3) == 8
    assert vqa_accuracy("Yes", answers) == pytest.approx(sum(subsets) / 10) == pytest.approx(0.6)


def test_empty_answers_rejected():
    with pytest.raises(ValueError):
        leave_one_out_accuracy("yes", [])
    with pytest.raises(ValueError):
        vqa_accuracy("yes", ["yes"] * 10, "okvqa")
    with pytest.raises(ValueError):
        vqa_accuracy("yes", ["yes"] * 10, "vqav2", "lenient")


# ---- unanimous answers: vqaEval.py normalises the prediction, the human answers only when mixed ---

def test_unanimous_yes_with_period_scores_under_both_modes():
    # GT-Vision-Lab vqaEval.py always normalises the prediction, so 'Yes.' -> 'yes' even when the
    # ten answers are identical; LLaVA's EvalAI processor gives the same.
    yes10 = ["yes"] * 10
    assert both("Yes.", yes10) == (1.0, 1.0)
    assert both("Yes.", yes10, "vizwiz") == (1.0, 1.0)
    assert both("Yes.", yes10, "textvqa") == (1.0, 1.0)


def test_unanimous_answers_are_not_normalised():
    # The conditional step is on the human side: ten identical 't-shirt' stay 't-shirt' while the
    # prediction becomes 't shirt' -> an exact copy of the answer scores 0 ...
    assert both("t-shirt", ["t-shirt"] * 10) == (0.0, 0.0)
    # ... but as soon as one annotator differs, the answers get the punctuation step too.
    assert both("t-shirt", ["t-shirt"] * 9 + ["shirt"]) == (1.0, 1.0)
    # TextVQA's m4c evaluator normalises the human answers always.
    assert vqa_accuracy("t-shirt", ["t-shirt"] * 10, "textvqa", "llava") == 1.0
    assert vqa_accuracy("t-shirt", ["t-shirt"] * 10, "textvqa", "official") == 0.0
    # VizWiz's evaluation never normalises the human answers.
    assert vizwiz_official_accuracy("t-shirt", ["t-shirt"] * 9 + ["shirt"]) == 0.0


def test_unanimous_answer_with_article():
    assert both("a dog", ["dog"] * 10) == (1.0, 1.0)
    # human answers keep their article when unanimous (digit/article step is never applied to them)
    assert both("a dog", ["a dog"] * 10) == (0.0, 0.0)
    assert m4c_accuracy("a dog", ["a dog"] * 10) == 1.0


# ---- number words, articles, contractions, punctuation --------------------------------------------

def test_number_words_to_digits():
    assert both("two", ["2"] * 10) == (1.0, 1.0)
    assert both("Two.", ten_answers(("2", 5), ("3", 5))) == (1.0, 1.0)
    assert vqa_normalize("none") == "0" and vqa_normalize("Ten") == "10"
    # human answers are not digit-normalised by vqaEval.py ('two' stays), but are by the m4c evaluator
    mixed = ten_answers(("2", 2), ("two", 2), ("3", 6))
    assert vqav2_official_accuracy("2", mixed) == pytest.approx(0.6)
    assert m4c_accuracy("2", mixed) == 1.0


def test_articles_dropped():
    assert vqa_normalize("A dog") == "dog"
    assert vqa_normalize("the red shape") == "red shape"
    assert vqa_normalize("an apple and a pear") == "apple and pear"
    assert vqa_normalize("another") == "another"


def test_contractions():
    # apostrophe-less spellings gain their apostrophe; "it's" is untouched by vqaEval.py ...
    assert vqa_normalize("I dont know") == "i don't know"
    assert both("dont", ["don't"] * 10) == (1.0, 1.0)
    assert vqa_normalize("it's") == "it's" and vqa_normalize("its") == "its"
    assert vqav2_official_accuracy("it's", ["it's"] * 10) == 1.0
    # ... but LLaVA's EvalAI processor splits "'s" off, so its upload answer no longer matches
    assert evalai_normalize("it's") == "it 's"
    assert both("it's", ["it's"] * 10) == (1.0, 0.0)
    assert m4c_accuracy("it's", ["it's"] * 10) == 1.0  # both sides split in TextVQA's evaluator
    assert len(CONTRACTIONS) == 120 and CONTRACTIONS["somebody'd"] == "somebodyd"  # reference table quirk
    assert process_digit_article("Im here") == "im here"  # capitalised keys never match lower-cased text


def test_comma_in_numbers_and_punctuation_rule():
    assert vqa_normalize("1,000") == "1000"
    assert both("1,000", ["1000"] * 10) == (1.0, 1.0)
    # a digit,digit group anywhere makes every listed mark vanish instead of becoming a space
    assert process_punctuation("1,000 red-white") == "1000 redwhite"
    assert process_punctuation("red-white") == "red white"
    # a mark touching a space anywhere in the text is deleted everywhere, else replaced by a space
    assert process_punctuation("yes , red-white") == "yes  red white"
    assert process_punctuation("red-white - blue") == "redwhite  blue"
    assert vqa_normalize("yes, it is") == "yes it is"
    assert vqa_normalize("red/white") == "red white"
    assert vqa_normalize("(left)") == "left"
    assert vqa_normalize("No!") == "no"


def test_period_rules():
    assert vqa_normalize("Yes.") == "yes"
    assert vqa_normalize("2.5") == "2.5"  # a period followed by a digit stays
    assert vqa_normalize("3.14.") == "3.14"
    assert vqa_normalize(".5") == ".5"
    assert vqa_normalize("e.g.") == "eg"
    # the reference passes re.UNICODE (32) as re.sub's count: at most 32 periods go
    assert process_punctuation("." * 40) == "." * 8


def test_whitespace_and_case():
    assert vqa_normalize("  Yes\n") == "yes"
    assert vqa_normalize("Red\tcar") == "red car"
    assert evalai_normalize("What colour?") == "what colour"
    assert evalai_normalize("The cat's toy.") == "cat 's toy"


def test_submission_answer_modes():
    assert submission_answer("Two dogs.", "llava") == "2 dogs"
    assert submission_answer("Two dogs.", "official") == "Two dogs."
    with pytest.raises(ValueError):
        submission_answer("x", "raw")


# ---- GQA ---------------------------------------------------------------------------------------------

def test_gqa_normalisation():
    assert gqa_correct("Yes.", "yes", "llava") and not gqa_correct("Yes.", "yes", "official")
    assert gqa_correct("yes", "yes", "official")
    assert gqa_correct(" Left. ", "left", "llava")
    assert not gqa_correct("The cat.", "cat", "llava")  # no article stripping in GQA's protocol
    assert not gqa_correct("two", "2", "llava")
    assert gqa_correct("yes..", "yes", "llava")  # rstrip('.') removes every trailing period
    assert gqa_answer_type("query") == "open" and gqa_answer_type("verify") == "binary"
    assert gqa_answer_type(None) is None
