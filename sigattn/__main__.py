from sigattn.cli import main

main()
