"""The last step: a conversion is the attribution of an event to a referral and its source;
the amount, currency and refunded order live on its purchase only."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_organization_language'),
        ('referrals', '0003_purchases_from_conversions'),
    ]

    operations = [
        migrations.AlterField(
            model_name='conversion',
            name='source',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='conversions', to='accounts.referralsource'),
        ),
        migrations.RemoveConstraint(
            model_name='conversion',
            name='conversion_amount_not_negative',
        ),
        migrations.RemoveField(
            model_name='conversion',
            name='amount',
        ),
        # A default first, so that going back can add the column again before 0003 fills it.
        migrations.AlterField(
            model_name='conversion',
            name='currency',
            field=models.CharField(default='', max_length=3),
        ),
        migrations.RemoveField(
            model_name='conversion',
            name='currency',
        ),
        migrations.RemoveField(
            model_name='conversion',
            name='refund_of',
        ),
        migrations.AddConstraint(
            model_name='conversion',
            constraint=models.UniqueConstraint(condition=models.Q(('is_first_purchase', True)), fields=('referral',), name='uniq_first_purchase_per_referral'),
        ),
        migrations.AddConstraint(
            model_name='conversion',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('kind', 'signup'), ('purchase__isnull', True)), models.Q(('kind__in', ['purchase', 'refund']), ('purchase__isnull', False)), ('kind', 'advocacy'), _connector='OR'), name='conversion_purchase_matches_kind'),
        ),
    ]
