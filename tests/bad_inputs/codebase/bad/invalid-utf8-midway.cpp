int main() {
  const char *s = "â‚";
  return 0;
}
