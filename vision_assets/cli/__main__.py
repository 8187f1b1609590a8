"""`python -m vision_assets.cli`: the same command line as the `vision-assets` console script."""

import sys

from vision_assets.cli.main import main

sys.exit(main())
