"""Drop the single-column foreign-key indexes a composite index already leads, index mostly-NULL
foreign keys partially.

Django would drop each index by altering its field, which also drops and re-adds (re-validates)
the foreign-key constraint: a full scan of crm_purchase and the customer tables at deploy time.
The constraints do not change, so the database side is only DROP INDEX (CREATE INDEX back)."""

import django.db.models.deletion
from django.db import migrations, models


# (table, column, index name as Django created it)
DROPPED = [
    ("crm_account", "customer_id", "crm_account_customer_id_3fd9c790"),
    ("crm_card", "category_id", "crm_card_category_id_5fd6053a"),
    ("crm_card", "group_id", "crm_card_group_id_c8ca0917"),
    ("crm_cardaccount", "account_id", "crm_cardaccount_account_id_a1858785"),
    ("crm_cardaccount", "card_id", "crm_cardaccount_card_id_118cfcc4"),
    ("crm_customer", "merged_into_id", "crm_customer_merged_into_id_8adc8877"),
    ("crm_customer", "registration_store_id", "crm_customer_registration_store_id_d30b59e6"),
    ("crm_notifier", "customer_id", "crm_notifier_customer_id_fdc18e93"),
    ("crm_purchase", "card_id", "crm_purchase_card_id_333eb42b"),
    ("crm_purchase", "customer_id", "crm_purchase_customer_id_b9f58d5e"),
    ("crm_purchase", "original_id", "crm_purchase_original_id_1b5a87ba"),
    ("crm_purchase", "store_id", "crm_purchase_store_id_f1393499"),
    ("crm_purchase", "till_id", "crm_purchase_till_id_2669c0dc"),
]


class Migration(migrations.Migration):

    dependencies = [
        ('catalogue', '0001_initial'),
        ('crm', '0003_purchase_json_lz4'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='account',
                    name='customer',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='accounts', to='crm.customer'),
                ),
                migrations.AlterField(
                    model_name='card',
                    name='category',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='cards', to='crm.cardcategory'),
                ),
                migrations.AlterField(
                    model_name='card',
                    name='group',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='cards', to='crm.cardgroup'),
                ),
                migrations.AlterField(
                    model_name='cardaccount',
                    name='account',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, to='crm.account'),
                ),
                migrations.AlterField(
                    model_name='cardaccount',
                    name='card',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, to='crm.card'),
                ),
                migrations.AlterField(
                    model_name='customer',
                    name='merged_into',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='merged_from', to='crm.customer'),
                ),
                migrations.AlterField(
                    model_name='customer',
                    name='registration_store',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='catalogue.store'),
                ),
                migrations.AlterField(
                    model_name='notifier',
                    name='customer',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='notifiers', to='crm.customer'),
                ),
                migrations.AlterField(
                    model_name='purchase',
                    name='card',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='purchases', to='crm.card'),
                ),
                migrations.AlterField(
                    model_name='purchase',
                    name='customer',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='purchases', to='crm.customer'),
                ),
                migrations.AlterField(
                    model_name='purchase',
                    name='original',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='refunds', to='crm.purchase'),
                ),
                migrations.AlterField(
                    model_name='purchase',
                    name='store',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalogue.store'),
                ),
                migrations.AlterField(
                    model_name='purchase',
                    name='till',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalogue.till'),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    [f"DROP INDEX IF EXISTS {name}" for _, _, name in DROPPED],
                    [f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})" for table, column, name in DROPPED],
                ),
            ],
        ),
        migrations.AddIndex(
            model_name='card',
            index=models.Index(condition=models.Q(('category__isnull', False)), fields=['category'], name='card_category_idx'),
        ),
        migrations.AddIndex(
            model_name='card',
            index=models.Index(condition=models.Q(('group__isnull', False)), fields=['group'], name='card_group_idx'),
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(condition=models.Q(('registration_store__isnull', False)), fields=['registration_store'], name='customer_reg_store_idx'),
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(condition=models.Q(('merged_into__isnull', False)), fields=['merged_into'], name='customer_merged_into_idx'),
        ),
        migrations.AddIndex(
            model_name='purchase',
            index=models.Index(condition=models.Q(('original__isnull', False)), fields=['original'], name='purchase_original_idx'),
        ),
    ]
