/* Café: ISO-8859-1, not UTF-8 */
class Latin1 { String s = "naïve"; }
