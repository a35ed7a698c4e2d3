"""Purchases: what the business sold, apart from the conversions that credit it to a source.

The first of three steps: add the Purchase table and the conversion's purchase and source
(nullable until 0003 has filled them in from the conversions' own amounts).
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_organization_language'),
        ('referrals', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Purchase',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('purchase', 'Purchase'), ('refund', 'Refund')], default='purchase', max_length=16)),
                ('external_id', models.CharField(max_length=200)),
                ('amount', models.DecimalField(decimal_places=2, max_digits=14)),
                ('currency', models.CharField(choices=[('EUR', 'Euro'), ('USD', 'US dollar'), ('GBP', 'Pound sterling'), ('CHF', 'Swiss franc'), ('SEK', 'Swedish krona'), ('NOK', 'Norwegian krone'), ('DKK', 'Danish krone'), ('PLN', 'Polish złoty'), ('CAD', 'Canadian dollar'), ('AUD', 'Australian dollar'), ('JPY', 'Japanese yen')], max_length=3)),
                ('occurred_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('customer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='purchases', to='accounts.customer')),
                ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='purchases', to='accounts.organization')),
                ('recorded_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('refund_of', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='refunds', to='referrals.purchase')),
            ],
            options={
                'ordering': ['-occurred_at', '-id'],
                'indexes': [models.Index(fields=['organization', 'occurred_at'], name='referrals_p_organiz_c11d0e_idx'), models.Index(fields=['customer', 'occurred_at'], name='referrals_p_custome_25c53e_idx')],
                'constraints': [models.UniqueConstraint(fields=('organization', 'external_id'), name='uniq_purchase_external_id'), models.CheckConstraint(condition=models.Q(('amount__gte', 0)), name='purchase_amount_not_negative'), models.CheckConstraint(condition=models.Q(('kind', 'refund'), ('refund_of__isnull', True), _connector='OR'), name='purchase_refund_of_only_on_refunds')],
            },
        ),
        migrations.AddField(
            model_name='conversion',
            name='purchase',
            field=models.OneToOneField(blank=True, help_text='The purchase or refund credited; none for a signup.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='conversion', to='referrals.purchase'),
        ),
        migrations.AddField(
            model_name='conversion',
            name='source',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='conversions', to='accounts.referralsource'),
        ),
    ]
