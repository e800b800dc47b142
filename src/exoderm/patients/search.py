"""How patients are found: names folded to one spelling, phone numbers by their last digits.

A name is stored a second time as a *search key* (``PatientIdentity.search_key``) and every word
of a query is folded the same way before it is compared, so that the spellings people type for the
same name meet:

- case is folded (``str.casefold``: MÜLLER, Müller; ß and ẞ become ss);
- diacritics go (Unicode NFKD without the combining marks: José → jose, Łukasz → lukasz through
  :data:`LETTERS`, for the few letters NFKD does not decompose);
- the German transliterations ae, oe and ue become a, o and u, as the umlaut did: Müller, Mueller
  and Muller all become ``muller``, Größmann and Groessmann ``grossmann``. Only where the vowel
  does not follow another vowel or a q: in Bauer, Feuer, Manuela's neighbour Quelle the ``ue`` is
  not an umlaut and stays (Bauer must not meet Bar).

The folding is lossy on purpose (Michael and Michal meet too): a search that finds a few more
patients is harmless, one that misses the patient in front of the desk is not.

A phone number is stored as its digits (``phone_digits``) and found by its last digits: the
query's digits without the leading zeros or the international prefix, at most
:data:`PHONE_TAIL` of them, at least :data:`PHONE_MIN_DIGITS`. So ``030 1234567``,
``+49 30 1234567`` and ``0049 (0)30 123 45 67`` find each other.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field

#: Letters that NFKD leaves alone, by what a German keyboard would type for them.
LETTERS = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i", "ħ": "h"}
)
# ae/oe/ue as an umlaut's transliteration: not after a vowel (Bauer, Feuer) nor after q (Quelle).
_TRANSLITERATED_UMLAUT = re.compile(r"(?<![aeiouyq])([aou])e")
_NOT_A_LETTER_OR_DIGIT = re.compile(r"[^0-9a-z]+")

#: Digits compared at the end of a phone number: enough to tell the clinic's patients apart,
#: few enough that a German number typed with or without its area code's 0 or the country code
#: 49 still ends the same way.
PHONE_TAIL = 8
#: Fewer digits than this are not searched as a phone number (a year, a house number).
PHONE_MIN_DIGITS = 6
#: Every term is one more condition of the query: a person is found with a few, and thousands
#: would make the SQL too deep for SQLite. The page's search field (100 characters) stays below.
MAX_TERMS = 50

_GERMAN_DATE = re.compile(r"(?<!\S)(\d{1,2})\.(\d{1,2})\.(\d{4})(?!\S)")
_ISO_DATE = re.compile(r"(?<!\S)(\d{4})-(\d{1,2})-(\d{1,2})(?!\S)")
# A run of digits with the separators people type in phone numbers, between spaces.
_PHONE = re.compile(r"(?<!\S)\+?[\d(][\d\s()/.-]*\d(?!\S)")


def fold(text: str) -> str:
    """``text`` in the search key's spelling: lower case ASCII letters and digits, words separated
    by one space (see the module docstring)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(LETTERS))
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    plain = plain.replace("'", "").replace("\u2019", "")  # O'Brien, O’Brien and OBrien meet
    words = _NOT_A_LETTER_OR_DIGIT.sub(" ", plain).split()
    return " ".join(_TRANSLITERATED_UMLAUT.sub(r"\1", word) for word in words)


#: The search key column's length. Folding can lengthen a name (ß → ss, ligatures), so the key
#: is cut there: a name that long is still found by its first 250 characters.
SEARCH_KEY_LENGTH = 250


def name_key(given_name: str, family_name: str) -> str:
    """The stored search key of a person's names: family name first, as lists sort."""
    return fold(f"{family_name} {given_name}")[:SEARCH_KEY_LENGTH]


def phone_digits(phone: str) -> str:
    """The digits of a stored phone number (what a query's last digits are compared with)."""
    return re.sub(r"\D", "", phone)


def phone_tail(typed: str) -> str:
    """The digits of a typed phone number that a stored number must end with; "" if too few.

    The leading zeros (trunk prefix 0, international prefix 00) are dropped so that the tail never
    reaches into a prefix the stored number may be written without.
    """
    digits = phone_digits(typed).lstrip("0")
    return digits[-PHONE_TAIL:] if len(digits) >= PHONE_MIN_DIGITS else ""


@dataclass(frozen=True)
class PhoneTerm:
    """A phone number as typed (a clinic's own patient codes may be all digits too) and the
    digits a stored number must end with."""

    typed: str
    tail: str


@dataclass
class Query:
    """A search query taken apart: birth dates, phone numbers, e-mail addresses and the other words.

    ``invalid_dates`` counts terms written like a date that are none (31.02.1980): they match no
    patient rather than being searched as words.
    """

    birth_dates: list[dt.date] = field(default_factory=list)
    invalid_dates: int = 0
    phones: list[PhoneTerm] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)


def parse_query(text: str) -> Query:
    """Take ``text`` apart: dates typed as dd.mm.yyyy or yyyy-mm-dd, phone numbers (a run of at
    least :data:`PHONE_MIN_DIGITS` digits, spaces and ``+()/.-`` allowed), words with an @ as
    e-mail addresses, and the remaining words for the code and the names."""
    query = Query()

    def take_date(day: int, month: int, year: int) -> str:
        try:
            query.birth_dates.append(dt.date(year, month, day))
        except ValueError:
            query.invalid_dates += 1
        return " "

    text = _GERMAN_DATE.sub(lambda m: take_date(int(m[1]), int(m[2]), int(m[3])), text)
    text = _ISO_DATE.sub(lambda m: take_date(int(m[3]), int(m[2]), int(m[1])), text)

    def take_phone(match: re.Match[str]) -> str:
        tail = phone_tail(match[0])
        if not tail:
            return match[0]  # too few digits: stays a word (a code, a house number)
        query.phones.append(PhoneTerm(typed=match[0].strip(), tail=tail))
        return " "

    text = _PHONE.sub(take_phone, text)
    for word in text.split():
        (query.emails if "@" in word else query.words).append(word)
    return query


def term_count(query: Query) -> int:
    """How many conditions ``query`` makes."""
    return (
        len(query.birth_dates)
        + query.invalid_dates
        + len(query.phones)
        + len(query.emails)
        + len(query.words)
    )
