from postbay.cli import main

raise SystemExit(main())
