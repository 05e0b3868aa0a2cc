/* placeholder: replaced by the stats-service implementation */
int main(void) { return 1; }
