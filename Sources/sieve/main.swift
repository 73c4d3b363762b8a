print("sieve")
