from kubetwin.cli import main

main()
