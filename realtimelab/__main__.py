from realtimelab.cli import main

raise SystemExit(main())
