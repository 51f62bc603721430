"""Makes the service's package importable when its tests run alone (pytest services/telegram-bot)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
