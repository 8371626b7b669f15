from healthhub.agent.cli import main

raise SystemExit(main())
