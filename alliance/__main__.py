from alliance.cli import console

console()
