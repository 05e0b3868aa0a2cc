/* placeholder: replaced by the REST implementation */
int main(void) { return 1; }
