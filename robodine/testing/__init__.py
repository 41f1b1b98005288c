"""What the tests and the benchmark share: real servers to run the code against."""
