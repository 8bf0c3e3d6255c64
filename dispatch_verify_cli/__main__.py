import sys

from dispatch_verify_cli.main import main

sys.exit(main())
