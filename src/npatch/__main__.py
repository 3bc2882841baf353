from npatch.cli import main

raise SystemExit(main())
