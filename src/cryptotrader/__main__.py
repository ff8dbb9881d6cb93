from cryptotrader.cli import main

main()
