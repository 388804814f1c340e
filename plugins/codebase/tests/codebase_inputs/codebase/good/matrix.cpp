// A 2x2 matrix: the good C++ file of the bad-input corpus.
#include <array>

class Matrix {
public:
    Matrix(double a, double b, double c, double d) : cells{a, b, c, d} {}

    double determinant() const {
        return cells[0] * cells[3] - cells[1] * cells[2];
    }

private:
    std::array<double, 4> cells;
};

double trace(const Matrix &m);
