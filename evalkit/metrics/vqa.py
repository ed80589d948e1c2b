"""VQA-family answer scoring, as the reference evaluation code computes it (pure functions).

The reference scorers, each named by repository and commit:

``vqaEval.py`` -- GT-Vision-Lab/VQA at a013f00 (2021-03-11, "Fixed processing answers bug"), the
    official VQA scorer and what ``official`` means here for VQAv2, VizWiz and TextVQA.  Per question:
    1. newlines and tabs become spaces and surrounding whitespace is stripped, on the prediction
       **and** on every human answer;
    2. only when the (stripped) human answers are not all identical: the punctuation step, then the
       digit/article/contraction step, on every human answer **and** on the prediction;
    3. with unanimous answers nothing else is normalised: ``'YES'`` vs ten ``'yes'`` scores 0,
       ``'New York'`` vs ten ``'New York'`` scores 1.
    (Older copies of the file -- before a013f00, and many vendored forks -- always normalised the
    prediction and only punctuation-processed mixed human answers; that rule is not implemented.)
VizWiz-VQA API ``vqaEval`` (Qing Li, distributed by vizwiz.org; the scorer of the VizWiz challenge)
    Differs from a013f00: the prediction is *always* whitespace/punctuation/digit-article processed,
    the human answers are compared exactly as stored, and its contraction table is the 2015 one of
    GT-Vision-Lab/VQA (14a5e12, before 458a8b2 "fixed the apostrophe symbol issue"): most apostrophes
    are U+2019, so ``dont`` becomes ``don\u2019t``.  Available only as the separately named modes
    ``vizwiz_api`` / ``llava_vizwiz_api`` of the VizWiz task, never as ``official``.
``m4c_evaluator.py`` (MMF's ``EvalAIAnswerProcessor`` + ``TextVQAAccuracyEvaluator``, as vendored by
    LLaVA / Video-LLaVA ``videollava/eval/m4c_evaluator.py``)
    One processor applied to the prediction *and* every human answer: lower-case first, commas
    and ``?`` deleted, ``'s`` split off as `` 's``, then the same punctuation / digit / article /
    contraction steps.  LLaVA's VQAv2 and VizWiz submission converters apply this processor to
    every prediction before writing the upload file; its TextVQA scorer uses the evaluator.

In every case a question's accuracy is the VQA "10 choose 9" average: for each of the n human
answers, leave it out and count the remaining answers equal to the prediction; the score is
``min(count / 3, 1)``; the question scores the mean over the n subsets (n = 10 in all three sets).
Leaving "it" out means leaving out that one answer (by position): a013f00 removes the answer
*record*, and VQAv2's ten records differ by ``answer_id``; the VizWiz API and m4c go by position.

Scoring modes (:data:`VQA_MODES`; ``task.answer_mode``):

``official``          the raw model reply goes to a013f00 ``vqaEval.py`` (all three benchmarks).
``llava``             what LLaVA's pipeline (and so Video-LLaVA's numbers) does: the reply is passed
                      through ``EvalAIAnswerProcessor`` first (the text written to the upload file),
                      then scored by a013f00 ``vqaEval.py``; for TextVQA by the m4c evaluator
                      (LLaVA's ``eval_textvqa.py``).
``vizwiz_api``        VizWiz only: the raw reply to the VizWiz-VQA API rule.
``llava_vizwiz_api``  VizWiz only: ``EvalAIAnswerProcessor``, then the VizWiz-VQA API rule (the
                      file LLaVA uploads, scored as the VizWiz API scores it).

Quirks kept on purpose because the reference code has them: the period regex
``(?!<=\\d)(\\.)(?!\\d)`` (its "lookbehind" is really a lookahead for the text ``<=``, so a period
is removed unless a digit follows), the ``re.UNICODE`` flag passed where ``re.sub`` expects a
count (at most 32 periods are removed), and the capitalised contraction keys (``Im``, ``Ive``)
that can never match lower-cased text.  (The a013f00 file is Python 2: there ``\\d`` matches ASCII
digits only; here, in Python 3, it also matches other Unicode digits.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

#: GQA's prediction-processing modes (the VQA-accuracy benchmarks use :data:`VQA_MODES`)
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


def _vizwiz_api_contractions() -> dict[str, str]:
    """The VizWiz-VQA API's table: GT-Vision-Lab/VQA's 2015 table (14a5e12), i.e. the table above
    with every apostrophe written as U+2019, except in the first five entries (``aint`` ..
    ``couldnt``), in the keys ``couldn'tve`` / ``hadn'tve`` and in the values ``we've``, ``where's``,
    ``who've``, which kept the ASCII apostrophe."""
    ascii_keys = {"aint", "arent", "cant", "couldve", "couldnt", "couldn'tve", "hadn'tve"}
    ascii_values = {"ain't", "aren't", "can't", "could've", "couldn't", "we've", "where's", "who've"}

    def curly(text: str) -> str:
        return text.replace("'", "\u2019")

    return {(k if k in ascii_keys else curly(k)): (v if v in ascii_values else curly(v))
            for k, v in CONTRACTIONS.items()}


VIZWIZ_API_CONTRACTIONS = _vizwiz_api_contractions()

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


def process_digit_article(text: str, contractions: Mapping[str, str] = CONTRACTIONS) -> str:
    """Lower-case, split on whitespace, number words -> digits, drop a/an/the, restore contractions."""
    words = []
    for w in text.lower().split():
        w = NUMBER_WORDS.get(w, w)
        if w not in ARTICLES:
            words.append(w)
    return " ".join(contractions.get(w, w) for w in words)


def clean_whitespace(text: str) -> str:
    """Newlines and tabs -> spaces, surrounding whitespace stripped (every scorer's first step)."""
    return text.replace("\n", " ").replace("\t", " ").strip()


def vqa_normalize(answer: str, contractions: Mapping[str, str] = CONTRACTIONS) -> str:
    """Whitespace, punctuation and digit/article/contraction steps of ``vqaEval.py`` in a row (what
    a013f00 applies to mixed answer sets, and the VizWiz API to every prediction)."""
    return process_digit_article(process_punctuation(clean_whitespace(answer)), contractions)


def evalai_normalize(answer: str) -> str:
    """``EvalAIAnswerProcessor`` (m4c_evaluator.py): what LLaVA writes to VQAv2/VizWiz upload files."""
    text = answer.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    text = clean_whitespace(text)
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


def vqa_eval_accuracy(pred: str, answers: Sequence[str]) -> float:
    """GT-Vision-Lab ``vqaEval.py`` at a013f00: whitespace cleaned on both sides; punctuation and
    digit/article steps on both sides only when the human answers are not unanimous."""
    res = clean_whitespace(pred)
    gts = [clean_whitespace(a) for a in answers]
    if len(set(gts)) > 1:
        gts = [process_digit_article(process_punctuation(a)) for a in gts]
        res = process_digit_article(process_punctuation(res))
    return leave_one_out_accuracy(res, gts)


def vizwiz_api_accuracy(pred: str, answers: Sequence[str]) -> float:
    """VizWiz-VQA API ``vqaEval``: prediction always normalised (with its 2015 contraction table),
    human answers compared as stored."""
    return leave_one_out_accuracy(vqa_normalize(pred, VIZWIZ_API_CONTRACTIONS), list(answers))


def m4c_accuracy(pred: str, answers: Sequence[str]) -> float:
    """``TextVQAAccuracyEvaluator``: prediction and every human answer through the EvalAI processor."""
    return leave_one_out_accuracy(evalai_normalize(pred), [evalai_normalize(a) for a in answers])


VQA_BENCHMARKS = ("vqav2", "vizwiz", "textvqa")
#: every scoring mode; see the module docstring
VQA_MODES = ("official", "llava", "vizwiz_api", "llava_vizwiz_api")
_VIZWIZ_ONLY = ("vizwiz_api", "llava_vizwiz_api")
_VQA_EVAL = "vqaEval.py (GT-Vision-Lab/VQA a013f00)"
_VIZWIZ_API = "vqaEval (VizWiz-VQA API: prediction always normalised, human answers as stored)"
_EVALAI_THEN = "EvalAIAnswerProcessor on the prediction, then "


def modes_for(benchmark: str) -> tuple[str, ...]:
    """The scoring modes valid for ``benchmark``."""
    _check(benchmark, "official")
    return VQA_MODES if benchmark == "vizwiz" else tuple(m for m in VQA_MODES if m not in _VIZWIZ_ONLY)


def scorer_name(benchmark: str, mode: str) -> str:
    """What scores a reply under ``mode``, naming the reference code (recorded in the manifest)."""
    _check(benchmark, mode)
    if mode == "official":
        return _VQA_EVAL
    if mode == "llava":
        if benchmark == "textvqa":
            return "m4c_evaluator.TextVQAAccuracyEvaluator (LLaVA eval_textvqa.py)"
        return _EVALAI_THEN + _VQA_EVAL
    return (_EVALAI_THEN if mode == "llava_vizwiz_api" else "") + _VIZWIZ_API


def vqa_accuracy(pred: str, answers: Sequence[str], benchmark: str = "vqav2", mode: str = "llava") -> float:
    """One question's VQA accuracy in [0, 1] for ``benchmark`` (vqav2 | vizwiz | textvqa) under
    scoring ``mode`` (:data:`VQA_MODES`)."""
    _check(benchmark, mode)
    if mode == "llava" and benchmark == "textvqa":
        return m4c_accuracy(pred, answers)
    if mode in ("llava", "llava_vizwiz_api"):
        pred = evalai_normalize(pred)
    if mode in _VIZWIZ_ONLY:
        return vizwiz_api_accuracy(pred, answers)
    return vqa_eval_accuracy(pred, answers)


def submission_answer(pred: str, mode: str = "llava") -> str:
    """The answer string written to an evaluation-server upload file (EvalAI-processed in the
    ``llava*`` modes, the raw reply otherwise)."""
    if mode not in VQA_MODES:
        raise ValueError(f"answer mode must be one of {', '.join(VQA_MODES)}, got {mode!r}")
    return evalai_normalize(pred) if mode.startswith("llava") else pred


def _check(benchmark: str, mode: str) -> None:
    if benchmark not in VQA_BENCHMARKS:
        raise ValueError(f"VQA benchmark must be one of {', '.join(VQA_BENCHMARKS)}, got {benchmark!r}")
    valid = VQA_MODES if benchmark == "vizwiz" else tuple(m for m in VQA_MODES if m not in _VIZWIZ_ONLY)
    if mode not in valid:
        raise ValueError(f"answer mode for {benchmark} must be one of {', '.join(valid)}, got {mode!r}")


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
