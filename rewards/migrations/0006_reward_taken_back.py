from decimal import Decimal

import django.db.models.expressions
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('rewards', '0005_rule_days_bounded'),
    ]

    operations = [
        migrations.AddField(
            model_name='reward',
            name='taken_back',
            field=models.DecimalField(decimal_places=2, default=Decimal('0'), help_text='Taken back by partial refunds of the purchase, in proportion.', max_digits=14),
        ),
        migrations.AddConstraint(
            model_name='reward',
            constraint=models.CheckConstraint(condition=models.Q(('taken_back__gte', 0), ('taken_back__lte', django.db.models.expressions.F('amount'))), name='reward_taken_back_within_amount'),
        ),
    ]
