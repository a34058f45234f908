"""Program documents and earn rules: validate, evaluate, claw back on returns, simulate.

Everything here is pure: plain data in, plain data out, time passed in.
"""
