from noisymix.cli import main

main()
