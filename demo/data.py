"""
What the demo bank Northbank is made of: its names, places, shares and weights.

The seeder (``demo/seeder.py``) draws from these with one seeded random generator; change
a number here to change the shape of the demo, not the code that writes it.
"""

from datetime import timedelta
from decimal import Decimal

from accounts.models import SourceKind
from referrals.models import Channel

DEMO_SLUG = "northbank-demo"
DEMO_PASSWORD = "advocate-demo"
OWNER_EMAIL = "demo@advocate.local"
ANALYST_EMAIL = "analyst@advocate.local"
CURRENCY = "EUR"

MIN_CUSTOMERS = 100
CUSTOMERS_PER_CHUNK = 5000  # customers generated, inserted and forgotten at a time
BATCH_SIZE = 5000  # rows per INSERT
SINGLE_TRANSACTION_MAX = 50_000  # above this, each chunk commits on its own

WINDOW = timedelta(days=365)
REFERRED_SHARE = 0.30
FRIENDS_PROGRAM_SHARE = 0.70  # of referrals, the rest go to professional introductions
FLAG_EVERY = 50  # one open referral in 50 waits for review: about 1% of all referrals
REFUND_SHARE = 0.04  # of repeat purchases (about 2% of all purchases)
# How many purchases (card products, loans, insurance, fees...) a customer made in the year
# shown, 0 to 10: about 4.3 for a customer nobody referred, 5.6 for a referred one (who
# bought at least once, or would not have converted). At a million customers that is about
# five million purchases.
OTHER_PURCHASE_WEIGHTS = (14, 10, 10, 10, 10, 9, 9, 8, 7, 7, 6)
REFERRED_PURCHASE_WEIGHTS = (0, 8, 9, 10, 10, 11, 11, 11, 11, 10, 9)
# Refunds come inside the 14-day hold: a refund voids a pending cash reward, and no paid
# reward ever needs clawing back (the services can, but a demo need not show debts).
REFUND_WITHIN_DAYS = 13
PAYOUT_HOUR = 6  # payouts run on the first of each month at 06:00 UTC
CENT = Decimal("0.01")
REDEEM_AMOUNTS = [Decimal(v) for v in ("5.00", "7.50", "10.00", "12.50", "20.00", "25.00")]

# fmt: off
FIRST_NAMES = [
    "Sanne", "Daan", "Emma", "Lucas", "Julia", "Sem", "Tess", "Finn", "Anna", "Milan",
    "Lotte", "Noah", "Eva", "Levi", "Sophie", "Bram", "Fleur", "Thijs", "Iris", "Jesse",
    "Noor", "Ruben", "Lieke", "Stijn", "Maud", "Lars", "Femke", "Koen", "Elif", "Mohamed",
    "Fatima", "Youssef", "Marta", "Piotr", "Giulia", "Matteo", "Clara", "Jonas", "Hugo", "Ines",
]
LAST_NAMES = [
    "de Vries", "Jansen", "van den Berg", "Bakker", "Visser", "Smit", "Meijer", "de Boer",
    "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker",
    "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf", "van der Meer", "Kok", "Jacobs",
    "Vermeulen", "van Dijk", "Schouten", "Willems", "Hoekstra", "Koster", "Prins", "Kuipers",
    "Maas", "Verhoeven", "Yilmaz", "El Amrani", "Kowalski", "Rossi", "Schmidt", "Dubois",
]
# Reserved example domains (RFC 2606): demo rows must never mail a real person.
EMAIL_DOMAINS = ["example.com", "example.net", "example.org"]
BRANCHES = [
    "Amsterdam Zuidas", "Utrecht Centraal", "Rotterdam Blaak", "Den Haag Spui",
    "Eindhoven Centrum", "Groningen Grote Markt", "Arnhem Velperplein", "Haarlem",
    "Leiden", "Maastricht", "Zwolle", "Nijmegen", "Breda", "Amersfoort",
]
INSURANCE_AGENCIES = [
    "Hollander Verzekeringen", "Brinkman Assurantiekantoor", "Veenstra & Zn. Verzekeringen",
    "De Zeeuw Risicoadvies", "Kuiper Assuradeuren", "Oosterhout Verzekeringsgroep",
    "Polderland Assurantien", "Zuidwest Verzekeringen",
]
INTERMEDIARY_FIRMS = [
    "Makelaardij Van der Linden", "Huis & Haard Makelaars", "Grachtengordel Makelaars",
    "Bos & Partners Accountants", "Tilburg Accountancy Groep", "De Rekenmeesters",
    "Advocatenkantoor Meijer Stam", "Van Rijn Notarissen", "Kroes Advocaten",
    "Eemland Financieel Advies",
]
PARTNERS = [
    "AutoHuis Van Dijk", "HypotheekPlein", "WoonWijzer Vergelijk", "Fietsfabriek Noord",
    "Zonnepanelen Direct", "Studentenkamer Platform",
]
# fmt: on
USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
]
# How friends arrive: customers share links; professionals mostly introduce in person.
CHANNEL_WEIGHTS = {
    "friends": {Channel.LINK: 80, Channel.EMAIL: 12, Channel.PHONE: 4, Channel.IN_PERSON: 4},
    "pros": {Channel.LINK: 45, Channel.EMAIL: 20, Channel.PHONE: 15, Channel.IN_PERSON: 20},
}
# A few sources send most friends; professionals send more than a typical customer.
KIND_WEIGHT = {
    SourceKind.CUSTOMER: 1.0,
    SourceKind.EMPLOYEE: 2.0,
    SourceKind.INTERMEDIARY: 3.0,
    SourceKind.AGENT: 4.0,
    SourceKind.PARTNER: 8.0,
}
FLAG_REASONS = [["velocity"], ["duplicate_friend"], ["duplicate_friend", "velocity"]]
DUPLICATE_REASON = "Duplicate of an existing customer"
