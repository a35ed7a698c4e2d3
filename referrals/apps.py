from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = "Referrals"

    def ready(self):
        # The in-process copies of referral links follow every change to what a link shows.
        from . import linkcache

        linkcache.connect_signals()
