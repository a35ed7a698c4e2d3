"""The intervals behind "referred vs not", against published values."""

from decimal import Decimal

from analytics.stats import Sample, mean_difference, mean_interval, share_difference, wilson

D = Decimal
Q = D("0.0001")


def test_wilson_interval_matches_the_published_values():
    five = wilson(5, 10)
    assert (five.low.quantize(Q), five.high.quantize(Q)) == (D("0.2366"), D("0.7634"))
    none = wilson(0, 10)
    assert (none.value, none.low, none.high.quantize(Q)) == (0, 0, D("0.2775"))
    assert wilson(0, 0) is None


def test_newcombe_difference_of_shares_matches_the_published_example():
    # Newcombe (1998), method 10: 56/70 against 48/80.
    d = share_difference(56, 70, 48, 80)
    assert d.value == D("0.2")
    assert (d.low.quantize(Q), d.high.quantize(Q)) == (D("0.0524"), D("0.3339"))


def test_mean_interval_is_the_normal_approximation():
    i = mean_interval(Sample.of([D("100"), D("180")]))
    # s^2 = 3200, standard error sqrt(3200 / 2) = 40, half width 1.96 x 40
    assert (i.value, i.low, i.high) == (D("140"), D("61.6"), D("218.4"))
    one = mean_interval(Sample.of([D("7")]))
    assert (one.value, one.low, one.high) == (7, 7, 7)
    assert mean_interval(Sample()) is None


def test_difference_of_means_adds_the_variances():
    a = Sample.of([D("100"), D("180")])  # variance 3200
    b = Sample.of([D("10"), D("30")])  # variance 200
    d = mean_difference(a, b)
    # sqrt(3200/2 + 200/2) = sqrt(1700)
    half = D("1.96") * D(1700).sqrt()
    assert (d.value, d.low, d.high) == (D("120"), D("120") - half, D("120") + half)
    assert mean_difference(a, Sample()) is None


def test_a_small_negative_share_or_amount_reads_as_zero_not_minus_zero():
    """A difference of -0.02 points is shown as 0.0%, never "-0.0%" (and -€0.00 as €0.00)."""
    from analytics.tables import money, share

    assert share(Decimal("-0.0002")).text == "0.0%"
    assert share(Decimal("-0.0012")).text == "-0.1%"
    assert money(Decimal("-0.00"), "EUR").text == money(Decimal("0.00"), "EUR").text
