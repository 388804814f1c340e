// A shopping cart: the good JavaScript file of the bad-input corpus.
import { round } from "./money.js";

export class Cart {
  constructor() {
    this.lines = [];
  }

  add(name, price, quantity = 1) {
    this.lines.push({ name, price, quantity });
    return this;
  }

  total() {
    return round(this.lines.reduce((sum, line) => sum + line.price * line.quantity, 0));
  }
}

export const isEmpty = (cart) => cart.lines.length === 0;
