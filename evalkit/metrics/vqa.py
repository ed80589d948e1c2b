"""VQA-family answer scoring, as the reference evaluation code computes it (pure functions).

Three reference implementations matter for the LLaVA-1.5 / Video-LLaVA image protocol, and they
differ in small ways that move numbers:

``vqaEval.py`` (GT-Vision-Lab/VQA, the VQAv2 reference; "official" here)
    The prediction is *always* normalised: newlines/tabs -> spaces, strip, punctuation rule,
    then digits/articles/contractions.  The ten human answers get the punctuation rule only,
    and only when they are not all identical -- so with unanimous human answers that contain
    punctuation (all ten say ``t-shirt``), even an exact copy of the answer scores 0 (the
    prediction becomes ``t shirt``).
VizWiz's ``vqaEval`` (VizWiz-VQA API)
    Same prediction normalisation; the human answers are never normalised.
``m4c_evaluator.py`` (MMF's ``EvalAIAnswerProcessor`` + ``TextVQAAccuracyEvaluator``, as
    vendored by LLaVA)
    One processor applied to the prediction *and* every human answer: lower-case first, commas
    and ``?`` deleted, ``'s`` split off as `` 's``, then the same punctuation / digit / article /
    contraction steps.  LLaVA's VQAv2 and VizWiz submission converters apply this processor to
    every prediction before writing the upload file; its TextVQA scorer uses the evaluator.

In every case a question's accuracy is the VQA "10 choose 9" average: for each of the n human
answers, leave it out and count the remaining answers equal to the prediction; the score is
``min(count / 3, 1)``; the question scores the mean over the n subsets (n = 10 in all three sets).

Prediction-processing modes (:data:`ANSWER_MODES`):

``official``  the raw model reply goes straight to the benchmark's reference scorer.
``llava``     what LLaVA's pipeline (and so Video-LLaVA's numbers) does: the reply is passed
              through ``EvalAIAnswerProcessor`` first (the text written to the upload file), then
              scored by the benchmark's scorer; for TextVQA the scorer is the m4c evaluator.

Quirks kept on purpose because the reference code has them: the period regex
``(?!<=\\d)(\\.)(?!\\d)`` (its "lookbehind" is really a lookahead for the text ``<=``, so a period
is removed unless a digit follows), the ``re.UNICODE`` flag passed where ``re.sub`` expects a
count (at most 32 periods are removed), and the capitalised contraction keys (``Im``, ``Ive``)
that can never match lower-cased text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from evalkit.registry import Registry

ANSWER_MODES = ("official", "llava")

# ---- tables shared by vqaEval.py and EvalAIAnswerProcessor (identical in both) ----------------

PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`",
               ",", "?", "!")
ARTICLES = frozenset({"a", "an", "the"})
NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}


def _contractions() -> dict[str, str]:
    """Apostrophe-less spelling -> spelling with apostrophes (the reference table, verbatim data)."""
    pairs = """
    aint ain't|arent aren't|cant can't|couldve could've|couldnt couldn't|couldn'tve couldn't've
    couldnt've couldn't've|didnt didn't|doesnt doesn't|dont don't|hadnt hadn't|hadnt've hadn't've
    hadn'tve hadn't've|hasnt hasn't|havent haven't|hed he'd|hed've he'd've|he'dve he'd've|hes he's
    howd how'd|howll how'll|hows how's|Id've I'd've|I'dve I'd've|Im I'm|Ive I've|isnt isn't|itd it'd
    itd've it'd've|it'dve it'd've|itll it'll|let's let's|maam ma'am|mightnt mightn't
    mightnt've mightn't've|mightn'tve mightn't've|mightve might've|mustnt mustn't|mustve must've
    neednt needn't|notve not've|oclock o'clock|oughtnt oughtn't|ow's'at 'ow's'at|'ows'at 'ow's'at
    'ow'sat 'ow's'at|shant shan't|shed've she'd've|she'dve she'd've|she's she's|shouldve should've
    shouldnt shouldn't|shouldnt've shouldn't've|shouldn'tve shouldn't've|somebody'd somebodyd
    somebodyd've somebody'd've|somebody'dve somebody'd've|somebodyll somebody'll|somebodys somebody's
    someoned someone'd|someoned've someone'd've|someone'dve someone'd've|someonell someone'll
    someones someone's|somethingd something'd|somethingd've something'd've
    something'dve something'd've|somethingll something'll|thats that's|thered there'd
    thered've there'd've|there'dve there'd've|therere there're|theres there's|theyd they'd
    theyd've they'd've|they'dve they'd've|theyll they'll|theyre they're|theyve they've|twas 'twas
    wasnt wasn't|wed've we'd've|we'dve we'd've|weve we've|werent weren't|whatll what'll
    whatre what're|whats what's|whatve what've|whens when's|whered where'd|wheres where's
    whereve where've|whod who'd|whod've who'd've|who'dve who'd've|wholl who'll|whos who's
    whove who've|whyll why'll|whyre why're|whys why's|wont won't|wouldve would've|wouldnt wouldn't
    wouldnt've wouldn't've|wouldn'tve wouldn't've|yall y'all|yall'll y'all'll|y'allll y'all'll
    yall'd've y'all'd've|y'alld've y'all'd've|y'all'dve y'all'd've|youd you'd|youd've you'd've
    you'dve you'd've|youll you'll|youre you're|youve you've
    """
    tokens = pairs.replace("|", " ").split()
    return dict(zip(tokens[0::2], tokens[1::2]))


CONTRACTIONS = _contractions()

_PERIOD = re.compile(r"(?!<=\d)(\.)(?!\d)")
_PERIOD_MAX = int(re.UNICODE)  # the reference passes re.UNICODE (32) as re.sub's count
_DIGIT_COMMA_DIGIT = re.compile(r"(\d)(,)(\d)")  # vqaEval.py
_DIGIT_COMMAS_DIGIT = re.compile(r"(?<=\d)(,)+(?=\d)")  # EvalAIAnswerProcessor


# ---- normalisation steps ---------------------------------------------------------------------

def process_punctuation(text: str, *, evalai: bool = False) -> str:
    """Each listed mark is deleted when it touches a space somewhere in ``text`` (or when ``text``
    has a digit-comma-digit group, e.g. ``1,000``), otherwise replaced by a space; then periods
    not followed by a digit are deleted.  The conditions look at the input, not the running output."""
    number_comma = (_DIGIT_COMMAS_DIGIT if evalai else _DIGIT_COMMA_DIGIT).search(text) is not None
    out = text
    for p in PUNCTUATION:
        out = out.replace(p, "" if (number_comma or p + " " in text or " " + p in text) else " ")
    return _PERIOD.sub("", out, count=_PERIOD_MAX)


def process_digit_article(text: str) -> str:
    """Lower-case, split on whitespace, number words -> digits, drop a/an/the, restore contractions."""
    words = []
    for w in text.lower().split():
        w = NUMBER_WORDS.get(w, w)
        if w not in ARTICLES:
            words.append(w)
    return " ".join(CONTRACTIONS.get(w, w) for w in words)


def vqa_normalize(answer: str) -> str:
    """The prediction processing of vqaEval.py (also VizWiz's)."""
    text = answer.replace("\n", " ").replace("\t", " ").strip()
    return process_digit_article(process_punctuation(text))


def evalai_normalize(answer: str) -> str:
    """``EvalAIAnswerProcessor`` (m4c_evaluator.py): what LLaVA writes to VQAv2/VizWiz upload files."""
    text = answer.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return process_digit_article(process_punctuation(text, evalai=True))


# ---- per-question accuracy ---------------------------------------------------------------------

def leave_one_out_accuracy(pred: str, answers: Sequence[str]) -> float:
    """Mean over the n leave-one-out subsets of min(#answers equal to ``pred`` / 3, 1), summed in
    the reference order (so floats match the reference bit for bit)."""
    if not answers:
        raise ValueError("VQA accuracy needs at least one human answer")
    n = len(answers)
    total = 0.0
    for i in range(n):
        matches = sum(1 for j in range(n) if j != i and answers[j] == pred)
        total += min(1, float(matches) / 3)
    return total / n


def vqav2_official_accuracy(pred: str, answers: Sequence[str]) -> float:
    """GT-Vision-Lab ``vqaEval.py``: prediction always normalised; human answers get the
    punctuation step only when they are not unanimous."""
    res = vqa_normalize(pred)
    gts = list(answers)
    if len(set(gts)) > 1:
        gts = [process_punctuation(a) for a in gts]
    return leave_one_out_accuracy(res, gts)


def vizwiz_official_accuracy(pred: str, answers: Sequence[str]) -> float:
    """VizWiz-VQA API ``vqaEval``: prediction normalised, human answers compared as stored."""
    return leave_one_out_accuracy(vqa_normalize(pred), list(answers))


def m4c_accuracy(pred: str, answers: Sequence[str]) -> float:
    """``TextVQAAccuracyEvaluator``: prediction and every human answer through the EvalAI processor."""
    return leave_one_out_accuracy(evalai_normalize(pred), [evalai_normalize(a) for a in answers])


# benchmark -> (name of its reference scorer, that scorer's per-question accuracy)
SCORERS: Registry[tuple[str, Callable[[str, Sequence[str]], float]]] = Registry("VQA scorer")
SCORERS.register("vqav2", ("vqaEval.py (GT-Vision-Lab/VQA)", vqav2_official_accuracy))
SCORERS.register("vizwiz", ("vqaEval (VizWiz-VQA API)", vizwiz_official_accuracy))
SCORERS.register("textvqa", ("vqaEval.py (GT-Vision-Lab/VQA) rules", vqav2_official_accuracy))


def scorer_name(benchmark: str, mode: str) -> str:
    _check(benchmark, mode)
    if mode == "llava":
        if benchmark == "textvqa":
            return "m4c_evaluator.TextVQAAccuracyEvaluator (LLaVA eval_textvqa.py)"
        return f"EvalAIAnswerProcessor on the prediction, then {SCORERS.get(benchmark)[0]}"
    return SCORERS.get(benchmark)[0]


def vqa_accuracy(pred: str, answers: Sequence[str], benchmark: str = "vqav2", mode: str = "llava") -> float:
    """One question's VQA accuracy in [0, 1] for ``benchmark`` (vqav2 | vizwiz | textvqa) under
    prediction-processing ``mode`` (official | llava)."""
    _check(benchmark, mode)
    if mode == "llava":
        if benchmark == "textvqa":
            return m4c_accuracy(pred, answers)
        pred = evalai_normalize(pred)
    return SCORERS.get(benchmark)[1](pred, answers)


def submission_answer(pred: str, mode: str = "llava") -> str:
    """The answer string written to an evaluation-server upload file."""
    if mode not in ANSWER_MODES:
        raise ValueError(f"answer mode must be one of {', '.join(ANSWER_MODES)}, got {mode!r}")
    return evalai_normalize(pred) if mode == "llava" else pred


def _check(benchmark: str, mode: str) -> None:
    if benchmark not in SCORERS:
        raise ValueError(f"VQA benchmark must be one of {', '.join(SCORERS)}, got {benchmark!r}")
    if mode not in ANSWER_MODES:
        raise ValueError(f"answer mode must be one of {', '.join(ANSWER_MODES)}, got {mode!r}")


# ---- GQA ---------------------------------------------------------------------------------------

def gqa_normalize(pred: str, mode: str = "llava") -> str:
    """``llava``: LLaVA's convert_gqa_for_eval.py (``text.rstrip('.').lower()`` of the reply, which
    model_vqa_loader already stripped); ``official``: the reply as is."""
    if mode not in ANSWER_MODES:
        raise ValueError(f"answer mode must be one of {', '.join(ANSWER_MODES)}, got {mode!r}")
    return pred.strip().rstrip(".").lower() if mode == "llava" else pred


def gqa_correct(pred: str, answer: str, mode: str = "llava") -> bool:
    """GQA eval.py: exact string equality of the (normalised) prediction and the answer."""
    return gqa_normalize(pred, mode) == answer


def gqa_answer_type(structural: str | None) -> str | None:
    """GQA eval.py's open/binary split: ``query`` questions are open, all others binary."""
    if structural is None:
        return None
    return "open" if structural == "query" else "binary"
