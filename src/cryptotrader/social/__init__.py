"""Social trading: public trader profiles (opt-in) and follows."""
