from healthhub.fleet.cli import main

raise SystemExit(main())
