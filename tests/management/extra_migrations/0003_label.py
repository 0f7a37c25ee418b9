from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("tenantapp", "0002_comment")]

    operations = [
        migrations.CreateModel(
            name="Label",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=50)),
            ],
        ),
    ]
