from cranewatch.cli import main

main()
