// A 2x2 matrix: the good C++ file of the bad-input corpus.
#include <array>

class Matrix {
public:
    Matrix(double a, double b, double c, double d) : cells{a, b, c, d} {}

    double determinant() const {
 