from robodine.cli import main

raise SystemExit(main())
