"""Local settings with the deployed stages' static files storage: used only by collectstatic
before packaging (see infra/aws/build.py)."""

from project.settings import *  # noqa: F401,F403
from project.settings import STORAGES

STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Only the hashed copies are referenced ({% static %} and the manifest's rewritten CSS urls),
# so the package leaves the unhashed originals out.
WHITENOISE_KEEP_ONLY_HASHED_FILES = True
