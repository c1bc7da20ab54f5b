/* httppage.h -- the frame every HTML page of the lab web server is drawn in.
 *
 * The pages are static strings (httplab.c's site, httphead.c's refusals);
 * these macros give each the same head, style sheet and footer.
 */
#ifndef PORTLAB_HTTPPAGE_H
#define PORTLAB_HTTPPAGE_H

/* A page's start: its title, then its heading. */
#define HTTP_PAGE_HEAD(title, heading)                                      \
  "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n" \
  "<title>" title                                                           \
  "</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n"               \
  "</head>\n<body>\n<h1>" heading "</h1>\n"
#define HTTP_PAGE_TAIL "<footer>Served by the portlab lab web server.</footer>\n</body>\n</html>\n"
/* A whole page whose heading is its title. */
#define HTTP_PAGE(title, body) HTTP_PAGE_HEAD(title, title) body HTTP_PAGE_TAIL

#endif
