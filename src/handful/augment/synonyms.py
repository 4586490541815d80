"""A small list of English synonym groups for text augmentation, shipped with handful (no download).

Each line is a group of words that can stand for one another in most sentences. The list is deliberately
conservative: no antonyms, no words whose strength differs much (so "good" is not grouped with "superb"), and
only common words, so a replaced word keeps the sentence's label. Multi-word entries are not used.
"""

from __future__ import annotations

from functools import lru_cache

GROUPS = """
movie film picture
story tale narrative
plot storyline
actor performer
scene sequence
ending finale conclusion
beginning start opening
audience viewers
director filmmaker
script screenplay
book novel
music soundtrack
song tune
car automobile vehicle
house home residence
shop store
child kid youngster
man guy fellow
woman lady
friend pal companion
mother mom mum
father dad
doctor physician
city town
road street
picture photo image photograph
problem issue trouble
idea notion thought
answer reply response
question query
kind sort type
end finish
talk speak chat
say tell
look glance peek
begin start commence
stop halt cease
help assist aid
buy purchase
try attempt
need require
want desire wish
choose pick select
use employ utilise utilize
think believe reckon
understand comprehend grasp
seem appear
fix repair mend
give offer provide
happen occur
shout yell
laugh giggle chuckle
cry weep sob
walk stroll
jump leap hop
big large huge
small little tiny
fast quick rapid speedy swift
slow sluggish leisurely
easy simple effortless
hard difficult tough
smart clever intelligent
funny amusing humorous comic
sad unhappy sorrowful gloomy
happy glad cheerful joyful
angry mad furious irate
scary frightening terrifying
strange odd weird peculiar bizarre
beautiful lovely gorgeous pretty attractive
ugly unattractive unsightly
boring dull tedious tiresome
interesting intriguing fascinating engaging
great wonderful fantastic terrific excellent superb marvellous marvelous
good nice pleasant fine decent
bad inferior lousy
awful terrible horrible dreadful atrocious
old aged elderly
new fresh recent
rich wealthy affluent
quiet silent hushed
loud noisy
clean spotless tidy
dirty filthy grimy
real genuine authentic actual
fake false phony bogus
important significant crucial vital
main chief principal primary major
whole entire complete full
certain sure confident
obvious evident apparent
likely probable
often frequently regularly
sometimes occasionally
usually normally typically generally
quickly rapidly swiftly speedily
slowly gradually
really truly genuinely
almost nearly practically virtually
maybe perhaps possibly
also too additionally
enough sufficient adequate
many numerous plenty
huge enormous immense massive vast
tiny minute minuscule
brave courageous bold fearless
calm peaceful serene tranquil
tired exhausted weary fatigued
hungry famished starving
sick ill unwell
cold chilly
hot warm heated
wet damp moist soggy
dry arid parched
bright shiny brilliant radiant
dark dim gloomy murky
cheap inexpensive affordable
expensive costly pricey
simple plain basic
complex complicated intricate
rude impolite discourteous
caring compassionate considerate
honest truthful sincere
stupid dumb foolish silly idiotic
wise sensible sage
weird bizarre strange odd
famous renowned celebrated well-known
unknown obscure
perfect flawless ideal impeccable
wrong incorrect mistaken
correct accurate
fun enjoyable entertaining
exciting thrilling exhilarating
predictable formulaic
pointless meaningless futile
mess shambles disaster
masterpiece triumph gem
""".strip()


@lru_cache(maxsize=1)
def _table() -> dict[str, tuple[str, ...]]:
    table: dict[str, set[str]] = {}
    for line in GROUPS.splitlines():
        words = line.split()
        for word in words:
            table.setdefault(word, set()).update(w for w in words if w != word)
    return {word: tuple(sorted(others)) for word, others in table.items()}


def synonyms_of(word: str) -> tuple[str, ...]:
    """Synonyms of ``word`` (case-insensitive) from the packaged list; empty when it has none.

    Example:
        >>> from handful.augment.synonyms import synonyms_of
        >>> "film" in synonyms_of("Movie")
        True
    """
    return _table().get(word.lower(), ())
