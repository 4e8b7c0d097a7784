from django.conf import settings
from django.contrib.sites.models import Site
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Make the Site record (SITE_ID) carry this stage's domain, which allauth puts in links."

    def handle(self, *args, **options):
        site, created = Site.objects.update_or_create(
            id=settings.SITE_ID, defaults={"domain": settings.SITE_DOMAIN, "name": settings.SITE_NAME}
        )
        self.stdout.write(f"Site {site.id}: {site.domain} ({'created' if created else 'updated'})")
