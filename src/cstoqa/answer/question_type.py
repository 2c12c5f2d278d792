"""Expected answer type from the question's wording, in the tradition of factoid QA answer typing.

The type decides which span labels can answer: "When …" wants a DATE, "How many …" a number,
"Which countries …" one or more places. Questions that ask for an explanation get sentences.
"""

from __future__ import annotations

import re
from enum import StrEnum

from cstoqa.types import Span


class AnswerType(StrEnum):
    DATE = "date"
    NUMBER = "number"
    PERSON = "person"
    PLACE = "place"
    ORGANIZATION = "organization"
    ENTITY = "entity"
    DESCRIPTION = "description"


# Span labels that can answer each type: the first set fully, the second as a weaker match
# (spaCy's small model often tags a city ORG or a country NORP).
LABELS: dict[AnswerType, tuple[frozenset[str], frozenset[str]]] = {
    AnswerType.DATE: (frozenset({"DATE"}), frozenset({"TIME"})),
    AnswerType.NUMBER: (frozenset({"CARDINAL", "QUANTITY", "PERCENT", "MONEY"}), frozenset({"ORDINAL"})),
    AnswerType.PERSON: (frozenset({"PERSON"}), frozenset({"NORP", "ORG"})),
    AnswerType.PLACE: (frozenset({"GPE", "LOC", "FAC"}), frozenset({"NORP", "ORG"})),
    AnswerType.ORGANIZATION: (frozenset({"ORG"}), frozenset({"NORP", "GPE"})),
    AnswerType.ENTITY: (
        frozenset(
            {"NP", "ORG", "GPE", "LOC", "PERSON", "NORP", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE", "FAC"}
        ),
        frozenset({"DATE", "CARDINAL"}),
    ),
    AnswerType.DESCRIPTION: (frozenset(), frozenset()),
}

_NOUN_TYPES: list[tuple[AnswerType, str]] = [
    (AnswerType.DATE, r"years?|dates?|decades?|century|centuries|months?|days?|era|period|time"),
    (AnswerType.NUMBER, r"numbers?|amount|percentage|proportion|population|size|total|count"),
    (
        AnswerType.PLACE,
        r"countr(?:y|ies)|nations?|states?|cit(?:y|ies)|capitals?|regions?|places?|locations?|"
        r"continents?|provinces?|territor(?:y|ies)|areas?|towns?|headquarters",
    ),
    (
        AnswerType.PERSON,
        r"persons?|people|leaders?|presidents?|man|woman|author|founders?|scientists?|kings?|"
        r"queens?|ministers?|secretar(?:y|ies)|chairman|writer|composer|player",
    ),
    (
        AnswerType.ORGANIZATION,
        r"organi[sz]ations?|bod(?:y|ies)|agenc(?:y|ies)|institutions?|compan(?:y|ies)|"
        r"alliances?|councils?|groups?|universit(?:y|ies)|teams?|parties|party",
    ),
]

_FILLER = frozenset(["is", "are", "was", "were", "the", "a", "an", "does", "do", "did", "has", "have", "had", "of"])
_CATEGORY = frozenset(["kind", "kinds", "type", "types", "sort", "sorts", "form", "forms", "category"])

_DESCRIPTIVE = re.compile(
    r"^(why|how (do|does|did|is|are|can|could|should|would|has|have)|describe|explain|discuss|summari[sz]e|"
    r"what (is|are|was|were) the (role|purpose|function|significance|importance|impact|effect|nature|aim|goal)s?\b|"
    r"what (does|do|did) .* (involve|entail|include|mean|do)\b|"
    r"what (criticisms?|challenges?|concerns?|problems?|issues?|aspects?|benefits?|advantages?|disadvantages?|"
    r"initiatives?|mechanisms?|elements?|steps?|measures?|activities|functions?|principles?)\b|"
    r"in what ways?|what ways?)",
    re.IGNORECASE,
)


def answer_type(question: str) -> AnswerType:
    q = " ".join(question.lower().split())
    q = re.sub(r"^(and|so|but|also|then|ok|okay|please|tell me|can you tell me|do you know)[, ]+", "", q)
    if re.match(r"^(when|what time|since when|until when)\b", q) or re.search(
        r"\b(what|which|in which|in what) (year|date|decade|century|month)\b", q
    ):
        return AnswerType.DATE
    if re.match(r"^how (many|much|long|old|far|big|large|often)\b", q) or re.search(
        r"\bwhat (is|was) the (number|amount|percentage|population|size)\b", q
    ):
        return AnswerType.NUMBER
    if re.match(r"^(who|whom|whose)\b", q):
        return AnswerType.PERSON
    if re.match(r"^(where|from where)\b", q) or re.search(r"\bin (which|what) (city|country|place|region|state)\b", q):
        return AnswerType.PLACE
    if _DESCRIPTIVE.match(q):
        return AnswerType.DESCRIPTION
    head = re.match(r"^(?:in |on |at |of |to |for |from |by )?(?:what|which|name the|name|list the)\b(.*)", q)
    if head:
        nouns = [w for w in re.findall(r"[a-z]+", head.group(1)) if w not in _FILLER][:2]
        if nouns and nouns[0] in _CATEGORY:
            return AnswerType.ENTITY
        for kind, pattern in _NOUN_TYPES:
            if any(re.fullmatch(pattern, noun) for noun in nouns):
                return kind
        return AnswerType.ENTITY
    return AnswerType.DESCRIPTION


def is_plural_ask(question: str) -> bool:
    """Does the question ask for several items ("Which countries …", "What are the …s", "List …")?

    The asked-for noun is one of the first two words after "which"/"what" that are not auxiliaries or
    articles, so "What is the highest body" is singular and "Which security threats" plural.
    """
    q = question.lower()
    if re.search(r"\b(what|who) are\b|\blist\b", q):
        return True
    head = re.search(r"\b(?:which|what|name the)\b(.*)", q)
    if not head:
        return False
    nouns = [w for w in re.findall(r"[a-z]+", head.group(1)) if w not in _FILLER][:2]
    return any(re.fullmatch(r"[a-z]{2,}(?:ies|[^su]s)", noun) for noun in nouns)


_YEAR = re.compile(r"^(1[0-9]|20)\d\d$")


def type_match(span: Span, text: str, kind: AnswerType) -> float:
    """1 for a label that answers the type, 0.5 for a weaker match, 0 otherwise; a bare year counts as a date."""
    full, weak = LABELS[kind]
    if kind is AnswerType.DATE and span.label == "CARDINAL" and _YEAR.match(text):
        return 1.0
    return 1.0 if span.label in full else 0.5 if span.label in weak else 0.0
