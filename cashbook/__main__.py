from cashbook.cli import main

main()
