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
    VIZWIZ_API_CONTRACTIONS,
    modes_for,
    scorer_name,
    submission_answer,
    vizwiz_api_accuracy,
    vqa_accuracy,
    vqa_eval_accuracy,
    vqa_normalize,
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


# ---- unanimous answers: a013f00 vqaEval.py normalises nothing but whitespace then ---------------

def test_issue_examples_give_the_reference_numbers():
    # GT-Vision-Lab/VQA a013f00, per question: whitespace on both sides; punctuation + digit/article
    # on both sides only when the ten answers are not all identical.
    assert vqa_accuracy("YES", ["yes"] * 10, "vqav2", "official") == 0.0
    assert vqa_accuracy("New York", ["New York"] * 10, "vqav2", "official") == 1.0
    assert vqa_accuracy("it's a cat", ["it's a cat"] * 3 + ["cat"] * 7, "vqav2", "official") == pytest.approx(0.9)
    assert vqa_accuracy("A", list("aaabbbcccc"), "vqav2", "official") == pytest.approx(0.9)
    for bench in ("vizwiz", "textvqa"):  # official means the same rule for all three sets
        assert vqa_accuracy("New York", ["New York"] * 10, bench, "official") == 1.0
        assert vqa_accuracy("YES", ["yes"] * 10, bench, "official") == 0.0


def test_unanimous_answers_only_whitespace_is_cleaned():
    yes10 = ["yes"] * 10
    assert both("Yes.", yes10) == (0.0, 1.0)  # the EvalAI processor (llava) lower-cases, drops '.'
    assert both("  yes\n", yes10) == (1.0, 1.0)
    assert both("yes", [" yes\t"] * 10) == (1.0, 1.0)  # human answers are whitespace-cleaned too
    assert both("Yes.", yes10, "vizwiz") == (0.0, 1.0)
    assert both("Yes.", yes10, "textvqa") == (0.0, 1.0)
    assert vqa_accuracy("Yes.", yes10, "vizwiz", "vizwiz_api") == 1.0  # the VizWiz API always normalises


def test_unanimous_answers_are_not_normalised():
    # ten identical 't-shirt': nothing is normalised, so the exact copy scores 1 ...
    assert both("t-shirt", ["t-shirt"] * 10) == (1.0, 0.0)  # (llava uploads 't shirt')
    # ... and once one annotator differs, both sides get the punctuation step
    assert both("t-shirt", ["t-shirt"] * 9 + ["shirt"]) == (1.0, 1.0)
    # TextVQA's m4c evaluator (llava) normalises the human answers always.
    assert vqa_accuracy("t-shirt", ["t-shirt"] * 10, "textvqa", "llava") == 1.0
    assert vqa_accuracy("t-shirt", ["t-shirt"] * 10, "textvqa", "official") == 1.0
    # The VizWiz API never normalises the human answers.
    assert vizwiz_api_accuracy("t-shirt", ["t-shirt"] * 9 + ["shirt"]) == 0.0
    assert vizwiz_api_accuracy("t-shirt", ["t shirt"] * 10) == 1.0


def test_unanimous_answer_with_article():
    assert both("a dog", ["dog"] * 10) == (0.0, 1.0)
    assert both("a dog", ["a dog"] * 10) == (1.0, 0.0)
    assert both("a dog", ["a dog"] * 9 + ["dog"]) == (1.0, 1.0)  # mixed: articles dropped on both sides
    assert m4c_accuracy("a dog", ["a dog"] * 10) == 1.0


def test_vizwiz_api_is_a_separate_mode_with_its_own_contraction_table():
    assert modes_for("vizwiz") == ("official", "llava", "vizwiz_api", "llava_vizwiz_api")
    assert "vizwiz_api" not in modes_for("vqav2") and "vizwiz_api" not in modes_for("textvqa")
    with pytest.raises(ValueError):
        vqa_accuracy("yes", ["yes"] * 10, "vqav2", "vizwiz_api")
    assert "a013f00" in scorer_name("vizwiz", "official") and "VizWiz" not in scorer_name("vizwiz", "official")
    assert "VizWiz-VQA API" in scorer_name("vizwiz", "vizwiz_api")
    assert scorer_name("vizwiz", "llava_vizwiz_api").startswith("EvalAIAnswerProcessor")
    # GT-Vision-Lab/VQA's 2015 table: curly apostrophes except a few entries
    assert VIZWIZ_API_CONTRACTIONS["dont"] == "don\u2019t" and VIZWIZ_API_CONTRACTIONS["cant"] == "can't"
    assert VIZWIZ_API_CONTRACTIONS["weve"] == "we've" and "hadn'tve" in VIZWIZ_API_CONTRACTIONS
    assert len(VIZWIZ_API_CONTRACTIONS) == len(CONTRACTIONS)
    assert vizwiz_api_accuracy("dont", ["don't"] * 10) == 0.0
    assert vizwiz_api_accuracy("dont", ["don\u2019t"] * 10) == 1.0
    # llava_vizwiz_api: the EvalAI processor (straight apostrophe) first, then the VizWiz rule
    assert vqa_accuracy("Dont", ["don't"] * 10, "vizwiz", "llava_vizwiz_api") == 1.0
    assert submission_answer("Two dogs.", "llava_vizwiz_api") == "2 dogs"
    assert submission_answer("Two dogs.", "vizwiz_api") == "Two dogs."


# ---- number words, articles, contractions, punctuation --------------------------------------------

def test_number_words_to_digits():
    assert both("two", ["2"] * 10) == (0.0, 1.0)  # unanimous: official compares 'two' with '2'
    assert both("two", ["2"] * 9 + ["3"]) == (1.0, 1.0)
    assert both("Two.", ten_answers(("2", 5), ("3", 5))) == (1.0, 1.0)
    assert vqa_normalize("none") == "0" and vqa_normalize("Ten") == "10"
    # mixed human answers are digit-normalised by a013f00 vqaEval.py and by the m4c evaluator,
    # not by the VizWiz API
    mixed = ten_answers(("2", 2), ("two", 2), ("3", 6))
    assert vqa_eval_accuracy("2", mixed) == 1.0
    assert m4c_accuracy("2", mixed) == 1.0
    assert vizwiz_api_accuracy("2", mixed) == pytest.approx(0.6)


def test_articles_dropped():
    assert vqa_normalize("A dog") == "dog"
    assert vqa_normalize("the red shape") == "red shape"
    assert vqa_normalize("an apple and a pear") == "apple and pear"
    assert vqa_normalize("another") == "another"


def test_contractions():
    # apostrophe-less spellings gain their apostrophe; "it's" is untouched by vqaEval.py ...
    assert vqa_normalize("I dont know") == "i don't know"
    assert both("dont", ["don't"] * 10) == (0.0, 1.0)  # unanimous: official leaves 'dont' alone
    assert both("dont", ["don't"] * 9 + ["no"]) == (1.0, 1.0)
    assert vqa_normalize("it's") == "it's" and vqa_normalize("its") == "its"
    assert vqa_eval_accuracy("it's", ["it's"] * 10) == 1.0
    # ... but LLaVA's EvalAI processor splits "'s" off, so its upload answer no longer matches
    assert evalai_normalize("it's") == "it 's"
    assert both("it's", ["it's"] * 10) == (1.0, 0.0)
    assert m4c_accuracy("it's", ["it's"] * 10) == 1.0  # both sides split in TextVQA's evaluator
    assert len(CONTRACTIONS) == 120 and CONTRACTIONS["somebody'd"] == "somebodyd"  # reference table quirk
    assert process_digit_article("Im here") == "im here"  # capitalised keys never match lower-cased text


def test_comma_in_numbers_and_punctuation_rule():
    assert vqa_normalize("1,000") == "1000"
    assert both("1,000", ["1000"] * 10) == (0.0, 1.0)
    assert both("1,000", ["1000"] * 9 + ["100"]) == (1.0, 1.0)
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
