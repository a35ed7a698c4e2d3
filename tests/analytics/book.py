"""A small book of a quarter's events at Acme, every figure of it computed by hand.

Acme's time zone is Europe/Amsterdam (UTC+1, UTC+2 from 29 March 2026). The period is
March 2026 (1-31 March, local); the previous period is the 31 days before it, 29 January to
28 February. Two instants sit on its edges: 28 Feb 23:30 UTC is 1 March 00:30 local (in),
31 March 22:30 UTC is 1 April 00:30 local (out).

Sam (customer kind) shares program "Refer a friend"; Ada (agent) program "Partners".

- Zoe: Sam's friend, won in January; bought 120 (Jan 10), 80 (Feb 15), 60 (Mar 15).
- Fay: Sam's friend, referred Mar 2 (link), signed up Mar 3, won Mar 5 with 200; 50 of it
  refunded Mar 20; bought 300 on Apr 10.
- Gus: Sam's friend, referred Mar 10 (email), signed up Mar 12, never bought.
- Hal: Ada's friend, referred Feb 20 (phone), signed up Feb 21, won Mar 4 with 400; bought
  70 at 31 Mar 22:30 UTC (April, local).
- Ivy: referred by Ada Mar 20 (in person), bought 90 on Mar 21; the referral was rejected.
- Olga: a customer for years; Ada moved her to buy 500 on Mar 7 (advocacy, referral of
  Mar 6 through the API).
- Nick: never referred, bought 1000 on Mar 8.

March, by hand: credited net revenue 200 - 50 + 400 + 60 + 500 = 1110.00, of which advocacy
500.00 and new business (customers won in March) 550.00, growth 560.00. Customers won 2
(Fay, Hal), worth to date 450 + 470 = 920.00, 460.00 each. Rewards issued 100.00, voided
40.00, taken back 5.00, cost 55.00 (referrers 45.00, friends 10.00). Breakage 10.00, debt
12.00, cash paid 25.00, insider contribution 250.00. Gross margin 50%:
ROI = (1110 x 0.5 - 55) / 55 = 909.1%. February's period: revenue 80.00, cost 8.00,
breakage 8.00, ROI (40 - 8) / 8 = 400.0%.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from accounts.models import Customer, InsiderContribution, ReferralSource
from analytics.period import Period
from referrals.models import Click, Conversion, Purchase, Referral
from referrals.services import link_get_or_create, program_create
from rewards.models import CreditAccount, CreditLot, LedgerEntry, Payout, PayoutBalanceEntry, Reward

MARCH = Period(start=date(2026, 3, 1), end=date(2026, 3, 31), tz="Europe/Amsterdam")
NOW = datetime(2026, 4, 15, 12, 0, tzinfo=UTC)


def at(month, day, hour=12, minute=0):
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def build(acme, program, source):
    acme.gross_margin = Decimal("0.5")
    acme.save(update_fields=["gross_margin"])
    sam = source
    partners = program_create(organization=acme, name="Partners")
    ada = ReferralSource.objects.create(organization=acme, name="Ada", kind="agent")
    sam_link = link_get_or_create(program=program, source=sam)
    ada_link = link_get_or_create(program=partners, source=ada)
    for when in (at(2, 28, 23, 30), at(3, 2), at(3, 9), at(2, 10)):
        Click.objects.create(organization=acme, link=sam_link, at=when)
    for when in (at(3, 31, 21, 30), at(3, 31, 22, 30)):
        Click.objects.create(organization=acme, link=ada_link, at=when)

    def customer(name, referred=False, since=None):
        return Customer.objects.create(
            organization=acme,
            email=f"{name.lower()}@example.com",
            name=name,
            is_referred=referred,
            first_seen_at=since or at(1, 1),
        )

    def refer(src, prog, friend, channel, created, signed=None, won=None, status=None):
        return Referral.objects.create(
            organization=acme,
            program=prog,
            source=src,
            friend=friend,
            friend_email=friend.email,
            channel=channel,
            created_at=created,
            signed_up_at=signed,
            converted_at=won,
            status=status or ("converted" if won else "signed_up" if signed else "lead"),
        )

    def sale(who, ref, amount, when, kind="purchase", refund_of=None, conv=None, first=False):
        p = Purchase.objects.create(
            organization=acme,
            customer=who,
            kind=kind,
            external_id=ref,
            amount=Decimal(amount),
            currency="EUR",
            refund_of=refund_of,
            occurred_at=when,
        )
        c = None
        if conv is not None:
            c = Conversion.objects.create(
                organization=acme,
                referral=conv,
                source=conv.source,
                customer=who,
                purchase=p,
                kind=("advocacy" if conv.friend.first_seen_at < at(1, 1) else kind),
                external_id=ref,
                is_first_purchase=first,
                occurred_at=when,
            )
        return p, c

    zoe = customer("Zoe", referred=True)
    fay = customer("Fay", referred=True)
    gus = customer("Gus")
    hal = customer("Hal", referred=True)
    ivy = customer("Ivy")
    olga = customer("Olga", since=datetime(2020, 1, 1, tzinfo=UTC))
    nick = customer("Nick")

    r_zoe = refer(sam, program, zoe, "link", at(1, 5), at(1, 6), at(1, 10))
    r_fay = refer(sam, program, fay, "link", at(3, 2), at(3, 3), at(3, 5))
    refer(sam, program, gus, "email", at(3, 10), at(3, 12))
    r_hal = refer(ada, partners, hal, "phone", at(2, 20), at(2, 21), at(3, 4))
    r_ivy = refer(ada, partners, ivy, "in_person", at(3, 20), status="rejected")
    r_olga = refer(ada, partners, olga, "api", at(3, 6))

    sale(zoe, "Z1", "120.00", at(1, 10), conv=r_zoe, first=True)
    _, z2 = sale(zoe, "Z2", "80.00", at(2, 15), conv=r_zoe)
    sale(zoe, "Z3", "60.00", at(3, 15), conv=r_zoe)
    f1, c_f1 = sale(fay, "F1", "200.00", at(3, 5), conv=r_fay, first=True)
    sale(fay, "FR", "50.00", at(3, 20), kind="refund", refund_of=f1, conv=r_fay)
    sale(fay, "F2", "300.00", at(4, 10), conv=r_fay)
    _, c_h1 = sale(hal, "H1", "400.00", at(3, 4), conv=r_hal, first=True)
    sale(hal, "H2", "70.00", at(3, 31, 22, 30), conv=r_hal)
    sale(ivy, "I1", "90.00", at(3, 21), conv=r_ivy, first=True)
    _, c_o1 = sale(olga, "O1", "500.00", at(3, 7), conv=r_olga)
    sale(nick, "N1", "1000.00", at(3, 8))

    InsiderContribution.objects.create(
        organization=acme,
        source=ada,
        occurred_on=date(2026, 3, 15),
        note="Tip",
        value=250,
        currency="EUR",
    )
    InsiderContribution.objects.create(
        organization=acme,
        source=sam,
        occurred_on=date(2026, 2, 10),
        note="Tip",
        value=40,
        currency="EUR",
    )

    def reward(amount, when, status="fulfilled", conv=None, src=None, who=None, back="0"):
        return Reward.objects.create(
            organization=acme,
            conversion=conv,
            source=src,
            customer=who,
            amount=Decimal(amount),
            taken_back=Decimal(back),
            currency="EUR",
            status=status,
            created_at=when,
        )

    reward("20.00", at(3, 5), conv=c_f1, src=sam, back="5.00")
    w2 = reward("10.00", at(3, 5), conv=c_f1, who=fay)
    reward("40.00", at(3, 4), status="void", conv=c_h1, src=ada)
    reward("25.00", at(3, 7), status="approved", conv=c_o1, src=ada)
    reward("5.00", at(3, 10), src=sam)
    w0 = reward("8.00", at(2, 15), conv=z2, src=sam)

    fay_account = CreditAccount.objects.create(organization=acme, customer=fay, currency="EUR")
    sam_account = CreditAccount.objects.create(organization=acme, source=sam, currency="EUR")
    ada_account = CreditAccount.objects.create(organization=acme, source=ada, currency="EUR")
    for account, rew, granted, expired in (
        (fay_account, w2, at(3, 5), at(3, 25)),
        (sam_account, w0, at(2, 15), at(2, 20)),
    ):
        lot = CreditLot.objects.create(
            organization=acme,
            account=account,
            reward=rew,
            amount=rew.amount,
            remaining=0,
            granted_at=granted,
            expires_at=expired,
            expired_at=expired,
        )
        for kind, amount, when in (
            ("grant", rew.amount, granted),
            ("expire", -rew.amount, expired),
        ):
            LedgerEntry.objects.create(
                organization=acme,
                account=account,
                lot=lot,
                kind=kind,
                amount=amount,
                idempotency_key=f"{kind}:{lot.pk}",
                at=when,
            )
    for account, kind, amount, when in (
        (sam_account, "debt", "-12.00", at(3, 12)),
        (sam_account, "settlement", "4.00", at(4, 5)),
        (ada_account, "earned", "25.00", at(3, 10)),
        (ada_account, "payout", "-25.00", at(3, 20)),
    ):
        PayoutBalanceEntry.objects.create(
            organization=acme,
            account=account,
            kind=kind,
            amount=Decimal(amount),
            idempotency_key=f"{kind}:{when:%m%d}",
            at=when,
        )
    Payout.objects.create(
        organization=acme,
        source=ada,
        account=ada_account,
        amount=Decimal("25.00"),
        currency="EUR",
        method="bank_transfer",
        status="paid",
        idempotency_key="p1",
        paid_at=at(3, 20),
    )
    Payout.objects.create(
        organization=acme,
        source=sam,
        account=sam_account,
        amount=Decimal("30.00"),
        currency="EUR",
        method="bank_transfer",
        status="failed",
        idempotency_key="p2",
    )
    return {"sam": sam, "ada": ada, "program": program, "partners": partners, "fay": fay}


__all__ = ["MARCH", "NOW", "build", "at", "timedelta"]
