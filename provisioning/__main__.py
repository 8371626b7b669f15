from healthhub.provisioning.cli import main

raise SystemExit(main())
