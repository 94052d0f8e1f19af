"""Model registry: importing this module registers every domain's tables on ``Base.metadata``.

Alembic's env.py and the tests import it. Each domain adds one import line here.
"""

from hub.access import models as access_models  # noqa: F401
from hub.areas import models as areas_models  # noqa: F401
from hub.assessment import models as assessment_models  # noqa: F401
from hub.auth import models as auth_models  # noqa: F401
from hub.basedata import models as basedata_models  # noqa: F401
from hub.cases import models as cases_models  # noqa: F401
from hub.commands import models as commands_models  # noqa: F401
from hub.devices import models as devices_models  # noqa: F401
from hub.events import models as events_models  # noqa: F401
from hub.media import models as media_models  # noqa: F401
from hub.notify import models as notify_models  # noqa: F401
from hub.ota import models as ota_models  # noqa: F401
from hub.privacy import models as privacy_models  # noqa: F401
from hub.workers import models as workers_models  # noqa: F401
