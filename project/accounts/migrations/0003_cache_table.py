"""
The deployed stages' cache table (contract C7), made by migrate rather than by a separate
`createcachetable` step that a new stage could miss (the email sign-in then answered 500).
Django's own createcachetable code makes it, so it is exactly the table DatabaseCache reads.
"""

from django.db import migrations


def create_cache_table(apps, schema_editor):
    from project.core.cache import create_table

    create_table(schema_editor.connection.alias)


def drop_cache_table(apps, schema_editor):
    from project.core.cache import TABLE

    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(TABLE)}")


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0002_emailsignin"),
    ]

    operations = [
        migrations.RunPython(create_cache_table, drop_cache_table, elidable=False),
    ]
