"""A supervisor on a live conversation: listening, coaching the operator, joining in.

Italian law lets an employer watch how remote workers work only as they were told beforehand
(art. 4 of L. 300/1970 and the GDPR): so it is off until a deployment writes the notice given to
its operators, the operator's desk says who is on the call and how for the whole session, every
session is in the audit log, and listening records nothing."""
